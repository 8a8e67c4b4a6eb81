/*
** test_fulltext.c — the full-text index of a vg_hnsw table, in C so that the
** sanitizers watch it (tests/reference/test_bm25.py checks the scores
** against a BM25 written in Python):
**   - a table written by random inserts, updates and deletes, with pending
**     rows merged many times, answers every full-text and hybrid query
**     exactly as a copy of its rows written at once, as a copy with an int8
**     index, and as itself reopened from the file;
**   - 10,000 random full-text and hybrid queries never return a row of
**     another tenant, and return min(k, matches) rows, matches counted by
**     LIKE over the text;
**   - ROLLBACK TO and a failed statement leave the answers as they were;
**   - a second connection sees what the first committed, and the other way;
**   - vg_search's modes are the table queries they name;
**   - vg_hnsw_check finds damage to the index;
**   - no word of a text, erased or not, is written to the file in plain.
*/
#include "testdb.h"
#include "filescan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const azWord[] = {"fever", "cough",  "rash",   "pain", "nausea", "chills",
                                     "asthma", "insulin", "vaccine", "virus", "clinic", "dose",
                                     "the",    "of",     "running", "runs"};
#define N_WORD (int)(sizeof azWord / sizeof azWord[0])

static unsigned rng_state = 12345u;
static unsigned rnd(unsigned n) {
  rng_state = rng_state * 1103515245u + 12345u;
  return (rng_state >> 8) % n;
}

/* A random text of 1..20 words, or NULL (as SQL). */
static char *rand_text(void) {
  if (rnd(30) == 0) return sqlite3_mprintf("NULL");
  sqlite3_str *s = sqlite3_str_new(0);
  int n = 1 + (int)rnd(20);
  sqlite3_str_appendchar(s, 1, '\'');
  for (int i = 0; i < n; i++) sqlite3_str_appendf(s, "%s%s", i ? " " : "", azWord[rnd(N_WORD)]);
  sqlite3_str_appendchar(s, 1, '\'');
  return sqlite3_str_finish(s);
}

static void create_as(sqlite3 *db, const char *zName, const char *zOptions) {
  tdb_exec(db,
           "CREATE VIRTUAL TABLE %s USING vg_hnsw(e float[2] distance_metric=cosine, tenant text partition key, "
           "+body text fulltext, lang text%s)",
           zName, zOptions);
}

static void create(sqlite3 *db, const char *zName) { create_as(db, zName, ""); }

/* The answer of a full-text query (and a hybrid one, with zVector) as
** text: "rowid:score:distance;..." */
static char *answer_as(sqlite3 *db, const char *zTable, const char *zQuery, const char *zVector,
                       const char *zTenant, int k, const char *zExtra) {
  sqlite3_stmt *p = tdb_prepare(db,
                                "SELECT rowid, score, distance FROM %s WHERE body MATCH %Q AND tenant = %Q "
                                "AND k = %d %s%s%s%s",
                                zTable, zQuery, zTenant, k, zExtra, zVector ? " AND e MATCH '" : "",
                                zVector ? zVector : "", zVector ? "' AND exact = 1" : "");
  sqlite3_str *s = sqlite3_str_new(0);
  int rc;
  while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
    sqlite3_str_appendf(s, "%lld:%.12g:%.6g;", sqlite3_column_int64(p, 0), sqlite3_column_double(p, 1),
                        sqlite3_column_double(p, 2));
  }
  if (rc != SQLITE_DONE) fail_msg("%s: %s", sqlite3_sql(p), sqlite3_errmsg(db));
  sqlite3_finalize(p);
  return sqlite3_str_finish(s);
}

static void rand_query(char *zQuery, size_t nQuery, const char **pzTenant, int *pk) {
  static const char *const azTen[] = {"t1", "t2", "t3"};
  static const int aK[] = {1, 3, 10, 100000};
  int n = 1 + (int)rnd(3);
  zQuery[0] = 0;
  for (int i = 0; i < n; i++) {
    size_t len = strlen(zQuery);
    /* Query words are never only stop words (an error); the last two
    ** words share a stem. */
    snprintf(zQuery + len, nQuery - len, "%s%s%s", i ? " " : "", rnd(4) ? "" : "the ",
             azWord[rnd(5) == 0 ? N_WORD - 2 + (int)rnd(2) : (int)rnd(N_WORD - 4)]);
  }
  *pzTenant = azTen[rnd(3)];
  *pk = aK[rnd(4)];
}

/* Every query of a random series answers the same on a and b. */
static void expect_same_answers(sqlite3 *dbA, const char *zA, sqlite3 *dbB, const char *zB, int nQuery) {
  for (int i = 0; i < nQuery; i++) {
    char zQuery[200];
    const char *zTenant;
    int k;
    rand_query(zQuery, sizeof zQuery, &zTenant, &k);
    const char *zExtra = rnd(3) == 0 ? "AND lang = 'es'" : rnd(4) == 0 ? "AND rowid < 500" : "";
    char zVector[64];
    snprintf(zVector, sizeof zVector, "[%d,%d]", (int)rnd(9) - 4, 1 + (int)rnd(4));
    const char *zV = rnd(2) ? zVector : 0; /* hybrid half the time */
    char *a = answer_as(dbA, zA, zQuery, zV, zTenant, k, zExtra);
    char *b = answer_as(dbB, zB, zQuery, zV, zTenant, k, zExtra);
    if (strcmp(a, b) != 0) fail_msg("%s for %s k=%d %s:\n  %s\n  %s", zQuery, zTenant, k, zExtra, a, b);
    sqlite3_free(a);
    sqlite3_free(b);
  }
}

/* Random writes on table zTable: n steps. */
static void churn(sqlite3 *db, const char *zTable, int n) {
  static const char *const azTen[] = {"'t1'", "'t2'", "'t3'"};
  for (int i = 0; i < n; i++) {
    unsigned r = rnd(100);
    sqlite3_int64 id = (sqlite3_int64)rnd(3000) - 1000;
    char *zText = rand_text();
    if (r < 60) {
      tdb_exec(db, "INSERT OR REPLACE INTO %s(rowid, e, tenant, body, lang) VALUES (%lld, '[%d,%d]', %s, %s, %s)",
               zTable, id, (int)rnd(7) - 3, 1 + (int)rnd(5), azTen[rnd(3)], zText, rnd(2) ? "'en'" : "'es'");
    } else if (r < 75) {
      tdb_exec(db, "UPDATE %s SET body = %s WHERE rowid = (SELECT rowid FROM %s WHERE rowid >= %lld ORDER BY rowid LIMIT 1)",
               zTable, zText, zTable, id);
    } else if (r < 80) {
      tdb_exec(db, "UPDATE %s SET tenant = %s WHERE rowid = (SELECT rowid FROM %s WHERE rowid >= %lld ORDER BY rowid LIMIT 1)",
               zTable, azTen[rnd(3)], zTable, id);
    } else if (r < 85) {
      tdb_exec(db, "UPDATE OR IGNORE %s SET rowid = %lld WHERE rowid = (SELECT rowid FROM %s WHERE rowid >= %lld ORDER BY rowid LIMIT 1)",
               zTable, id + 5000, zTable, id);
    } else {
      tdb_exec(db, "DELETE FROM %s WHERE rowid = (SELECT rowid FROM %s WHERE rowid >= %lld ORDER BY rowid LIMIT 1)",
               zTable, zTable, id);
    }
    sqlite3_free(zText);
  }
}

static void test_same_as_rebuilt_and_reopened(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("fulltext.db");
  sqlite3 *db = tdb_open(zPath);
  create(db, "a");
  tdb_exec(db, "BEGIN");
  churn(db, "a", 4000);
  tdb_exec(db, "COMMIT");
  /* The run merged pending rows and left some pending. */
  assert_true(tdb_int(db, "SELECT count(*) FROM a_ftpost") > 0);
  assert_true(tdb_int(db, "SELECT count(*) FROM a_ftpend") > 0);
  tdb_expect_index_ok(db, "a");
  create(db, "b");
  tdb_exec(db, "INSERT INTO b(rowid, e, tenant, body, lang) SELECT rowid, e, tenant, body, lang FROM a ORDER BY random()");
  expect_same_answers(db, "a", db, "b", 300);
  /* An int8 index gives hybrid queries the same exact distances. */
  create_as(db, "c", ", quantization=int8");
  tdb_exec(db, "INSERT INTO c(rowid, e, tenant, body, lang) SELECT rowid, e, tenant, body, lang FROM a");
  expect_same_answers(db, "a", db, "c", 100);
  sqlite3 *db2 = tdb_open(zPath);
  expect_same_answers(db, "a", db2, "a", 100);
  tdb_close(db2);
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

static void test_isolation_and_count(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  create(db, "a");
  tdb_exec(db, "BEGIN");
  churn(db, "a", 1500);
  tdb_exec(db, "COMMIT");
  for (int i = 0; i < 10000; i++) {
    char zQuery[200];
    const char *zTenant;
    int k;
    rand_query(zQuery, sizeof zQuery, &zTenant, &k);
    sqlite3_int64 nOther = tdb_int(db,
                                   "SELECT count(*) FROM a WHERE body MATCH %Q AND tenant = %Q AND k = %d %s"
                                   "AND rowid IN (SELECT rowid FROM a WHERE tenant <> %Q)",
                                   zQuery, zTenant, k, i % 2 ? "AND e MATCH '[1,1]' " : "", zTenant);
    assert_int_equal(nOther, 0);
    if (i % 20 == 0) {
      /* min(k, matches): one word, matched by its stem at a word start. */
      const char *zWord = azWord[rnd(N_WORD - 4)];
      sqlite3_int64 nGot = tdb_int(db, "SELECT count(*) FROM a WHERE body MATCH %Q AND tenant = %Q AND k = %d",
                                   zWord, zTenant, k);
      sqlite3_int64 nMatch = tdb_int(db,
                                     "SELECT count(*) FROM a WHERE tenant = %Q AND (' ' || body || ' ') LIKE '%% %s %%'",
                                     zTenant, zWord);
      assert_int_equal(nGot, nMatch < k ? nMatch : k);
      /* A hybrid query matches every row of the partition. */
      nGot = tdb_int(db, "SELECT count(*) FROM a WHERE body MATCH %Q AND e MATCH '[1,1]' AND tenant = %Q AND k = %d",
                     zWord, zTenant, k);
      nMatch = tdb_int(db, "SELECT count(*) FROM a WHERE tenant = %Q", zTenant);
      assert_int_equal(nGot, nMatch < k ? nMatch : k);
    }
  }
  tdb_close(db);
}

static void test_rollback_and_failed_statement(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  create(db, "a");
  create(db, "b");
  churn(db, "a", 800);
  tdb_exec(db, "INSERT INTO b(rowid, e, tenant, body, lang) SELECT rowid, e, tenant, body, lang FROM a");
  tdb_exec(db, "BEGIN; SAVEPOINT s");
  churn(db, "a", 700); /* past a merge in some partition */
  tdb_exec(db, "ROLLBACK TO s; RELEASE s");
  expect_same_answers(db, "a", db, "b", 100);
  tdb_expect_index_ok(db, "a");
  tdb_exec(db, "COMMIT");
  /* A statement that fails on its fourth row writes nothing. */
  tdb_expect_error(db, "UNIQUE constraint failed",
                   "INSERT INTO a(rowid, e, tenant, body) SELECT value + 100000, '[1,2]', 't1', 'fever fever' "
                   "FROM json_each('[1,2,3]') UNION ALL SELECT 100001, '[1,2]', 't1', 'cough'");
  expect_same_answers(db, "a", db, "b", 100);
  tdb_close(db);
}

/* Rows at both ends of the rowid range and at the edges of the lexical
** walk's windows (4096 rowids), ranked by hand: one match each, so BM25
** falls as the text grows, and the order is not the rowids'.  The 300
** longer rows after them let a query's bound pass over chunks. */
static void test_rowid_edges(void **state) {
  (void)state;
  static const char *const azRowid[] = {"-9223372036854775808", "9223372036854775807", "4096", "-1", "0",
                                        "4095", "-9223372036854775807", "9223372036854775806"};
  static const char *const azFill[] = {"alpha", "beta", "gamma", "delta", "omega", "kappa", "sigma"};
  sqlite3 *db = tdb_open(":memory:");
  create(db, "a");
  for (int i = 0; i < 8; i++) {
    char zText[128] = "fever";
    for (int j = 0; j < i; j++) strcat(strcat(zText, " "), azFill[j]);
    tdb_exec(db, "INSERT INTO a(rowid, e, tenant, body) VALUES (%s, '[1,%d]', 't', '%s')", azRowid[i], i, zText);
  }
  tdb_exec(db,
           "WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < 300) "
           "INSERT INTO a(rowid, e, tenant, body) SELECT 10000 + v, '[0,1]', 't', "
           "'fever alpha beta gamma delta omega kappa sigma rash' FROM n");
  const char *zWant = "-9223372036854775808,9223372036854775807,4096,-1,0,4095,-9223372036854775807,"
                      "9223372036854775806";
  tdb_expect_text(db, zWant, "SELECT group_concat(rowid) FROM a WHERE body MATCH 'fever' AND tenant = 't' AND k = 8");
  tdb_expect_text(db, "-9223372036854775808,9223372036854775807,4096",
                  "SELECT group_concat(rowid) FROM a WHERE body MATCH 'fever' AND tenant = 't' AND k = 3");
  /* Hybrid: the vector side's rows (scored on the walk) include both ends;
  ** the first row is the nearest and the best by BM25, so its score is 1. */
  tdb_expect_text(db, "-9223372036854775808:1.0",
                  "SELECT rowid || ':' || round(score, 6) FROM a WHERE body MATCH 'fever' AND e MATCH '[1,0]' "
                  "AND tenant = 't' AND k = 1");
  tdb_expect_text(db, zWant,
                  "SELECT group_concat(rowid) FROM (SELECT rowid FROM a WHERE body MATCH 'fever' "
                  "AND rowid IN (%s) AND tenant = 't' AND k = 20)",
                  "-9223372036854775808,9223372036854775807,4096,-1,0,4095,-9223372036854775807,9223372036854775806");
  tdb_expect_index_ok(db, "a");
  tdb_close(db);
}

static void test_two_connections(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("fulltext2.db");
  sqlite3 *db1 = tdb_open(zPath);
  create(db1, "a");
  sqlite3 *db2 = tdb_open(zPath);
  tdb_exec(db1, "INSERT INTO a(rowid, e, tenant, body) VALUES (1, '[1,2]', 't1', 'fever and cough')");
  tdb_expect_text(db2, "1", "SELECT group_concat(rowid) FROM a WHERE body MATCH 'cough' AND tenant = 't1' AND k = 5");
  tdb_exec(db2, "INSERT INTO a(rowid, e, tenant, body) VALUES (2, '[1,2]', 't1', 'a cough at night')");
  tdb_exec(db2, "UPDATE a SET body = 'rash' WHERE rowid = 1");
  tdb_expect_text(db1, "2", "SELECT group_concat(rowid) FROM a WHERE body MATCH 'cough' AND tenant = 't1' AND k = 5");
  tdb_expect_text(db1, "1", "SELECT group_concat(rowid) FROM a WHERE body MATCH 'rash' AND tenant = 't1' AND k = 5");
  tdb_close(db2);
  tdb_close(db1);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

/* The group_concat of "rowid:score" of a query. */
static char *ranks(sqlite3 *db, const char *zSql) {
  return tdb_text(db, "SELECT group_concat(r || ':' || printf('%%.9f', s), ' ') FROM (%s)", zSql);
}

static void test_vg_search_modes(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db, "SELECT vg_pii_set_key(zeroblob(32))");
  tdb_exec(db,
           "CREATE VIRTUAL TABLE kb USING vg_hnsw(embedding float[32] distance_metric=cosine, "
           "tenant_id text partition key, content_id text, +content text fulltext, lang text)");
  tdb_exec(db, "CREATE VIRTUAL TABLE plain USING vg_hnsw(embedding float[32], +content text)");
  for (int i = 0; i < 300; i++) {
    char *zText = rand_text();
    if (strcmp(zText, "NULL") == 0) {
      sqlite3_free(zText);
      zText = sqlite3_mprintf("'fever'");
    }
    tdb_exec(db, "SELECT vg_ingest('kb', %s, 'faq', %d, %s || ' x', json_object('lang', %s))",
             i % 3 ? "'acme'" : "'globex'", i, zText, i % 2 ? "'en'" : "'es'");
    sqlite3_free(zText);
  }
  tdb_exec(db, "SELECT vg_queue_run(1000)");
  static const char *const azQuery[] = {"fever cough", "running rash", "the vaccine", "dose"};
  for (int i = 0; i < 4; i++) {
    const char *q = azQuery[i];
    char *zVec = sqlite3_mprintf("vg_embed(%Q, 'hash2:32')", q);
    /* Each mode is the query it names on the table. */
    char *zSearch[3], *zDirect[3];
    zSearch[0] = sqlite3_mprintf("SELECT target_rowid r, score s FROM vg_search('kb', 'acme', %Q, 7, '{\"lang\": \"en\"}', '{\"mode\": \"lexical\"}')", q);
    zDirect[0] = sqlite3_mprintf("SELECT rowid r, score s FROM kb WHERE content MATCH %Q AND tenant_id = 'acme' AND k = 7 AND lang = 'en'", q);
    zSearch[1] = sqlite3_mprintf("SELECT target_rowid r, score s FROM vg_search('kb', 'acme', %Q, 7, NULL, '{\"vector_weight\": 0.4}')", q);
    zDirect[1] = sqlite3_mprintf("SELECT rowid r, score s FROM kb WHERE content MATCH %Q AND embedding MATCH %s AND tenant_id = 'acme' AND k = 7 AND vector_weight = 0.4", q, zVec);
    zSearch[2] = sqlite3_mprintf("SELECT target_rowid r, similarity s FROM vg_search('kb', 'acme', %Q, 7, NULL, '{\"mode\": \"vector\"}')", q);
    zDirect[2] = sqlite3_mprintf("SELECT rowid r, 1 - distance s FROM kb WHERE embedding MATCH %s AND tenant_id = 'acme' AND k = 7", zVec);
    for (int m = 0; m < 3; m++) {
      char *a = ranks(db, zSearch[m]), *b = ranks(db, zDirect[m]);
      if (a == 0 || b == 0 || strcmp(a, b) != 0) fail_msg("%s\n  %s\n  %s", zSearch[m], a, b);
      sqlite3_free(a);
      sqlite3_free(b);
      sqlite3_free(zSearch[m]);
      sqlite3_free(zDirect[m]);
    }
    /* Hybrid is the default; a threshold keeps the rows at or above it. */
    sqlite3_int64 nAll = tdb_int(db, "SELECT count(*) FROM vg_search('kb', 'acme', %Q, 50)", q);
    double t = tdb_double(db, "SELECT score FROM vg_search('kb', 'acme', %Q, 50) WHERE rank = 10", q);
    sqlite3_int64 nAbove = tdb_int(db, "SELECT count(*) FROM vg_search('kb', 'acme', %Q, 50) WHERE score >= %.17g", q, t);
    assert_int_equal(nAll, 50);
    assert_int_equal(tdb_int(db, "SELECT count(*) FROM vg_search('kb', 'acme', %Q, 50, NULL, '{\"threshold\": %.17g}')", q, t),
                     nAbove);
    assert_int_equal(tdb_int(db, "SELECT count(*) FROM vg_search('kb', 'acme', %Q, 50) WHERE content_id IN "
                                 "(SELECT content_id FROM vg_search('kb', 'globex', %Q, 50))", q, q), 0);
    sqlite3_free(zVec);
  }
  static const struct {
    const char *zNeedle, *zArgs;
  } aErr[] = {
      {"vg_search: mode lexical needs a fulltext column, and table \"plain\" has none", "'plain', '', 'x', 5, NULL, '{\"mode\": \"lexical\"}'"},
      {"vg_search: a BLOB query is a vector and searches in mode vector", "'kb', 'acme', vg_embed('x', 'hash:32'), 5, NULL, '{\"mode\": \"hybrid\"}'"},
      {"vg_search: a BLOB query is a vector of 32 float32 values for this table; got 8 bytes", "'kb', 'acme', x'0000000000000000', 5"},
      {"vg_search: unknown option \"weights\"", "'kb', 'acme', 'x', 5, NULL, '{\"weights\": 1}'"},
      {"vg_search: vector_weight must be a number from 0", "'kb', 'acme', 'x', 5, NULL, '{\"vector_weight\": 1.5}'"},
      {"vg_search: vector_weight applies to mode hybrid", "'kb', 'acme', 'x', 5, NULL, '{\"mode\": \"vector\", \"vector_weight\": 1}'"},
      {"vg_search: mode must be", "'kb', 'acme', 'x', 5, NULL, '{\"mode\": \"semantic\"}'"},
      {"vg_search: threshold must be a number", "'kb', 'acme', 'x', 5, NULL, '{\"threshold\": \"high\"}'"},
      {"vg_search: the options must be a JSON object", "'kb', 'acme', 'x', 5, NULL, '[1]'"},
      {"vg_search: kb: the query on content has no words to search for", "'kb', 'acme', 'the of', 5"},
  };
  for (size_t i = 0; i < sizeof aErr / sizeof aErr[0]; i++) {
    tdb_expect_error(db, aErr[i].zNeedle, "SELECT * FROM vg_search(%s)", aErr[i].zArgs);
  }
  tdb_close(db);
}

/* vg_hnsw_check finds each kind of damage to the index, and nothing on an
** index that is whole. */
static void test_check_finds_damage(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  create(db, "a");
  tdb_exec(db, "BEGIN");
  churn(db, "a", 2500); /* past merges: chunks and pending rows both */
  tdb_exec(db, "COMMIT");
  assert_true(tdb_int(db, "SELECT count(*) FROM a_ftpost") > 0);
  assert_true(tdb_int(db, "SELECT count(*) FROM a_ftpend") > 0);
  tdb_expect_index_ok(db, "a");
  assert_true(tdb_int(db, "SELECT json_extract(vg_hnsw_check('a'), '$.fulltext.postings')") > 1000);
  static const struct {
    const char *zDamage, *zUndo, *zField;
  } a[] = {
      {"UPDATE a_ftstat SET n_terms = n_terms + 1 WHERE part = (SELECT min(part) FROM a_ftstat)",
       "UPDATE a_ftstat SET n_terms = n_terms - 1 WHERE part = (SELECT min(part) FROM a_ftstat)",
       "statistics_mismatches"},
      {"CREATE TABLE keep AS SELECT * FROM a_ftpend WHERE row = (SELECT min(row) FROM a_ftpend); "
       "DELETE FROM a_ftpend WHERE row = (SELECT row FROM keep)",
       "INSERT INTO a_ftpend SELECT * FROM keep; DROP TABLE keep", "partitions_differing"},
      {"CREATE TABLE keep AS SELECT * FROM a_ftpost LIMIT 1; "
       "UPDATE a_ftpost SET data = CAST(data || x'00' AS BLOB) WHERE (part, term, first) IN (SELECT part, term, first FROM keep)",
       "UPDATE a_ftpost SET data = (SELECT data FROM keep) WHERE (part, term, first) IN (SELECT part, term, first FROM keep); "
       "DROP TABLE keep",
       "bad_chunks"},
      {"CREATE TABLE keep AS SELECT * FROM a_ftpost LIMIT 1; "
       "UPDATE a_ftpost SET term = term + 1 WHERE (part, term, first) IN (SELECT part, term, first FROM keep)",
       "UPDATE a_ftpost SET term = term - 1 WHERE (part, term, first) IN (SELECT part, term + 1, first FROM keep); "
       "DROP TABLE keep",
       "partitions_differing"},
      {"INSERT INTO a_ftstat VALUES (999, 1, 1, 0)", "DELETE FROM a_ftstat WHERE part = 999", "orphans"},
      /* A chunk's bounds let queries pass over it: wrong ones are damage. */
      {"CREATE TABLE keep AS SELECT part, term, first FROM a_ftpost WHERE max_tf > 1 LIMIT 1; "
       "UPDATE a_ftpost SET max_tf = max_tf - 1 WHERE (part, term, first) IN (SELECT * FROM keep)",
       "UPDATE a_ftpost SET max_tf = max_tf + 1 WHERE (part, term, first) IN (SELECT * FROM keep); DROP TABLE keep",
       "bad_chunks"},
      {"CREATE TABLE keep AS SELECT part, term, first FROM a_ftpost LIMIT 1; "
       "UPDATE a_ftpost SET min_len = min_len + 1 WHERE (part, term, first) IN (SELECT * FROM keep)",
       "UPDATE a_ftpost SET min_len = min_len - 1 WHERE (part, term, first) IN (SELECT * FROM keep); DROP TABLE keep",
       "bad_chunks"},
  };
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
    tdb_exec(db, "%s", a[i].zDamage);
    assert_int_equal(tdb_int(db, "SELECT json_extract(vg_hnsw_check('a'), '$.ok')"), 0);
    if (tdb_int(db, "SELECT json_extract(vg_hnsw_check('a'), '$.fulltext.%s')", a[i].zField) < 1) {
      fail_msg("damage %d: %s", (int)i, tdb_text(db, "SELECT vg_hnsw_check('a')"));
    }
    tdb_exec(db, "%s", a[i].zUndo);
    tdb_expect_index_ok(db, "a");
  }
  tdb_close(db);
}

/* After DELETEs and text UPDATEs are committed and checkpointed, no word of
** an erased text is anywhere in the file: the index keeps term hashes, and
** the text itself is an auxiliary value, encrypted.  The scan does find the
** plain metadata it should (a control).  With PRAGMA secure_delete off and
** on, in WAL and rollback-journal modes. */
#define ERASE_ROWS 1200
static void check_erasure(const char *zJournal, int bSecureDelete) {
  char *zPath = tdb_temp_path("fterase.db");
  sqlite3 *db = tdb_open(zPath);
  tdb_exec(db, "PRAGMA secure_delete = %d; PRAGMA journal_mode = %s", bSecureDelete, zJournal);
  tdb_exec(db, "CREATE VIRTUAL TABLE v USING vg_hnsw(e float[2], tenant text partition key, "
               "kind text, +body text fulltext)");
  static char aWord[ERASE_ROWS + 1][4][16];
  static int state[ERASE_ROWS + 1]; /* 0 kept, 1 deleted, 2 text replaced */
  tdb_exec(db, "BEGIN");
  for (int id = 1; id <= ERASE_ROWS; id++) {
    for (int w = 0; w < 4; w++) snprintf(aWord[id][w], sizeof aWord[id][w], "qx%06d%czz", id, 'a' + w);
    tdb_exec(db, "INSERT INTO v(rowid, e, tenant, kind, body) VALUES (%d, '[1,%d]', '%s', 'KIND-ODD', "
                 "'Patient %s reports %s and %s with %s fever')",
             id, id % 7, id % 3 ? "t1" : "t2", aWord[id][0], aWord[id][1], aWord[id][2], aWord[id][3]);
  }
  tdb_exec(db, "COMMIT");
  /* a search, so that pending rows and chunks are both read once */
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v WHERE body MATCH '%s' AND tenant = 't1' AND k = 5",
                           aWord[1][2]), 1);
  uint64_t r = 7;
  tdb_exec(db, "BEGIN");
  for (int id = 1; id <= ERASE_ROWS; id++) {
    uint64_t u = tdb_rand(&r) % 10;
    if (u < 3) {
      state[id] = 1;
      tdb_exec(db, "DELETE FROM v WHERE rowid = %d", id);
    } else if (u < 4) {
      state[id] = 2;
      tdb_exec(db, "UPDATE v SET body = 'replaced text' WHERE rowid = %d", id);
    }
  }
  tdb_exec(db, "COMMIT");
  tdb_expect_index_ok(db, "v");
  if (strcmp(zJournal, "wal") == 0) tdb_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  tdb_close(db);
  long n;
  unsigned char *file = (unsigned char *)tdb_read_file(zPath, &n);
  FileScan scan = {0};
  static int aNeedle[ERASE_ROWS + 1][4];
  for (int id = 1; id <= ERASE_ROWS; id++) {
    for (int w = 0; w < 4; w++) aNeedle[id][w] = scan_add(&scan, aWord[id][w], strlen(aWord[id][w]));
  }
  int iControl = scan_add(&scan, "KIND-ODD", 8);
  scan_run(&scan, file, (size_t)n);
  int nGone = 0;
  for (int id = 1; id <= ERASE_ROWS; id++) {
    for (int w = 0; w < 4; w++) {
      /* Kept rows' words are not in the file either: never in plain text. */
      if (scan_found(&scan, aNeedle[id][w])) {
        fail_msg("%s, secure_delete=%d: word %s of row %d (%s) is in the file", zJournal, bSecureDelete,
                 aWord[id][w], id, state[id] == 0 ? "kept" : state[id] == 1 ? "deleted" : "replaced");
      }
    }
    nGone += state[id] != 0;
  }
  assert_true(nGone > ERASE_ROWS / 4);
  assert_true(scan_found(&scan, iControl));
  free(file);
  scan_free(&scan);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

static void test_erasure(void **state) {
  (void)state;
  check_erasure("wal", 0);
  check_erasure("delete", 0);
  check_erasure("wal", 1);
  check_erasure("delete", 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_as_rebuilt_and_reopened),
      cmocka_unit_test(test_isolation_and_count),
      cmocka_unit_test(test_rollback_and_failed_statement),
      cmocka_unit_test(test_two_connections),
      cmocka_unit_test(test_rowid_edges),
      cmocka_unit_test(test_vg_search_modes),
      cmocka_unit_test(test_check_finds_damage),
      cmocka_unit_test(test_erasure),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
